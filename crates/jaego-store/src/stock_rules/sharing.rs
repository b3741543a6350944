//! Shared-inventory settings (the tenant's switch and scope, each
//! channel's switch, basis and buffer), exclusions, and channel figures:
//! reading them, and setting one by hand where jaego does not publish it.

use jaego_core::channel_stock::{self, ChannelSharing, SharingScope, TenantSharing};
use jaego_core::{ChannelId, SkuId, TenantId};
use serde_json::json;
use sqlx::any::AnyRow;

use super::figures::{self, channel_stock_event};
use super::lock_tenant;
use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::page::{Page, PageRequest};
use crate::rows::{filter_eq, filter_value, int, join_list, opt_int, parsed, text};
use crate::{Store, now_us};

/// A channel's sharing settings and whether sharing is on for it now.
#[derive(Debug, Clone)]
pub struct ChannelSharingView {
    pub channel_id: ChannelId,
    pub channel_code: String,
    pub settings: ChannelSharing,
    /// The tenant's switch and scope and the channel's switch together.
    pub sharing: bool,
}

/// A channel's figure for a SKU as last sent.
#[derive(Debug, Clone)]
pub struct ChannelFigure {
    pub channel_id: ChannelId,
    pub sku_id: SkuId,
    pub sku_code: String,
    /// `None`: jaego stopped publishing it (see `reason`).
    pub figure: Option<i64>,
    /// `on_hand`, `available`, `fixed`, `forced_sold_out`, `low_stock`,
    /// `limited`, `manual`, or why it is not synced (`excluded`,
    /// `basis_untracked`, `sku_untracked`).
    pub reason: String,
    /// `shared` (published by sharing) or `manual` (typed in).
    pub source: String,
    pub updated_at: i64,
}

/// An excluded SKU.
#[derive(Debug, Clone)]
pub struct Exclusion {
    pub sku_id: SkuId,
    pub sku_code: String,
    pub created_at: i64,
}

fn figure_from_row(row: &AnyRow) -> StoreResult<ChannelFigure> {
    Ok(ChannelFigure {
        channel_id: parsed(row, "channel_id")?,
        sku_id: parsed(row, "sku_id")?,
        sku_code: text(row, "code")?,
        figure: opt_int(row, "figure")?,
        reason: text(row, "reason")?,
        source: text(row, "source")?,
        updated_at: int(row, "updated_at")?,
    })
}

fn sharing_event(tenant: TenantId, sharing: &TenantSharing) -> NewEvent {
    let (kinds_list, channels): (Vec<String>, Vec<String>) = match &sharing.scope {
        SharingScope::AllStores => (Vec::new(), Vec::new()),
        SharingScope::SomeChannels(k) => (k.clone(), Vec::new()),
        SharingScope::SomeStores(c) => (Vec::new(), c.iter().map(ToString::to_string).collect()),
    };
    NewEvent::new(
        tenant,
        kinds::SHARING_UPDATED,
        json!({
            "enabled": sharing.enabled,
            "scope": sharing.scope.as_str(),
            "channel_kinds": kinds_list,
            "channels": channels,
        }),
    )
}

impl Store {
    /// The tenant's sharing switch and scope (off by default).
    pub async fn sharing(&self, tenant: TenantId) -> StoreResult<TenantSharing> {
        let mut tx = self.reader().begin().await?;
        let sharing = figures::tenant_sharing(&mut tx, tenant).await?;
        tx.rollback().await?;
        Ok(sharing)
    }

    /// Replaces the tenant's sharing switch and scope. Channels named by a
    /// `some_stores` scope must be the tenant's. Turning sharing on (or
    /// widening it) overwrites the figures of every channel it reaches.
    pub async fn set_sharing(
        &self,
        tenant: TenantId,
        sharing: &TenantSharing,
    ) -> StoreResult<TenantSharing> {
        let mut tx = self.begin_write().await?;
        let (kinds_list, channels) = match &sharing.scope {
            SharingScope::AllStores => (Vec::new(), Vec::new()),
            SharingScope::SomeChannels(k) => (k.clone(), Vec::new()),
            SharingScope::SomeStores(c) => (Vec::new(), c.clone()),
        };
        for (i, c) in channels.iter().enumerate() {
            let found = sqlx::query("SELECT id FROM channels WHERE tenant_id = $1 AND id = $2")
                .bind(tenant.to_string())
                .bind(c.to_string())
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_none() {
                return Err(jaego_core::InvalidInput::one(
                    format!("channels[{i}]"),
                    format!("no channel {c}"),
                )
                .into());
            }
        }
        let channel_text: Vec<String> = channels.iter().map(ToString::to_string).collect();
        sqlx::query(
            "INSERT INTO sharing_settings (tenant_id, enabled, scope, channel_kinds, channels, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id) DO UPDATE SET enabled = excluded.enabled, scope = excluded.scope, \
               channel_kinds = excluded.channel_kinds, channels = excluded.channels, updated_at = excluded.updated_at",
        )
        .bind(tenant.to_string())
        .bind(i64::from(sharing.enabled))
        .bind(sharing.scope.as_str())
        .bind(join_list(&kinds_list))
        .bind(join_list(&channel_text))
        .bind(now_us())
        .execute(&mut *tx)
        .await?;
        self.commit_with(tx, &[sharing_event(tenant, sharing)])
            .await?;
        Ok(sharing.clone())
    }

    /// One channel's sharing settings and whether it shares now.
    pub async fn channel_sharing(
        &self,
        tenant: TenantId,
        channel: ChannelId,
    ) -> StoreResult<ChannelSharingView> {
        let mut tx = self.reader().begin().await?;
        let info = figures::channels(&mut tx, tenant, Some(&[channel]))
            .await?
            .pop()
            .ok_or_else(|| StoreError::not_found("channel", channel))?;
        tx.rollback().await?;
        Ok(ChannelSharingView {
            channel_id: info.id,
            channel_code: info.code,
            settings: info.settings,
            sharing: info.sharing,
        })
    }

    /// Replaces one channel's switch, basis and buffer.
    pub async fn set_channel_sharing(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        settings: &ChannelSharing,
    ) -> StoreResult<ChannelSharingView> {
        settings.validate()?;
        let mut tx = self.begin_write().await?;
        let found = sqlx::query("SELECT code, kind FROM channels WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found("channel", channel))?;
        sqlx::query(
            "INSERT INTO channel_sharing (tenant_id, channel_id, enabled, basis, fixed_figure, buffer, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (channel_id) DO UPDATE SET enabled = excluded.enabled, basis = excluded.basis, \
               fixed_figure = excluded.fixed_figure, buffer = excluded.buffer, updated_at = excluded.updated_at",
        )
        .bind(tenant.to_string())
        .bind(channel.to_string())
        .bind(i64::from(settings.enabled))
        .bind(settings.basis.as_str())
        .bind(settings.basis.fixed_figure())
        .bind(settings.buffer)
        .bind(now_us())
        .execute(&mut *tx)
        .await?;
        let tenant_sharing = figures::tenant_sharing(&mut tx, tenant).await?;
        let sharing =
            channel_stock::sharing_on(&tenant_sharing, channel, &text(&found, "kind")?, settings);
        let event = NewEvent::new(
            tenant,
            kinds::CHANNEL_SHARING_UPDATED,
            json!({
                "channel_id": channel.to_string(),
                "enabled": settings.enabled,
                "basis": settings.basis.as_str(),
                "fixed_figure": settings.basis.fixed_figure(),
                "buffer": settings.buffer,
                "sharing": sharing,
            }),
        )
        .channel(channel)
        .subject(channel);
        self.commit_with(tx, &[event]).await?;
        Ok(ChannelSharingView {
            channel_id: channel,
            channel_code: text(&found, "code")?,
            settings: *settings,
            sharing,
        })
    }

    /// Excludes a SKU from a channel's sync (`excluded`) or includes it
    /// again. Doing what is already so changes nothing and writes no event.
    pub async fn set_exclusion(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        sku: SkuId,
        excluded: bool,
    ) -> StoreResult<()> {
        let mut tx = self.begin_write().await?;
        sqlx::query("SELECT id FROM channels WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found("channel", channel))?;
        crate::ledger::ensure_sku(&mut tx, tenant, sku).await?;
        let changed = if excluded {
            sqlx::query(
                "INSERT INTO channel_exclusions (tenant_id, channel_id, sku_id, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .bind(sku.to_string())
            .bind(now_us())
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query(
                "DELETE FROM channel_exclusions WHERE tenant_id = $1 AND channel_id = $2 AND sku_id = $3",
            )
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .bind(sku.to_string())
            .execute(&mut *tx)
            .await?
        };
        if changed.rows_affected() == 0 {
            return Ok(());
        }
        let kind = if excluded {
            kinds::CHANNEL_EXCLUSION_ADDED
        } else {
            kinds::CHANNEL_EXCLUSION_REMOVED
        };
        let event = NewEvent::new(
            tenant,
            kind,
            json!({"channel_id": channel.to_string(), "sku_id": sku.to_string()}),
        )
        .channel(channel)
        .sku(sku);
        self.commit_with(tx, &[event]).await
    }

    /// A channel's excluded SKUs, by SKU id.
    pub async fn list_exclusions(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        page: &PageRequest,
    ) -> StoreResult<Page<Exclusion>> {
        let rows = sqlx::query(
            "SELECT e.sku_id, s.code, e.created_at FROM channel_exclusions e JOIN skus s ON s.id = e.sku_id \
             WHERE e.tenant_id = $1 AND e.channel_id = $2 AND e.sku_id > $3 ORDER BY e.sku_id LIMIT $4",
        )
        .bind(tenant.to_string())
        .bind(channel.to_string())
        .bind(page.cursor())
        .bind((page.size() + 1) as i64)
        .fetch_all(self.reader())
        .await?;
        let items = rows
            .iter()
            .map(|r| {
                Ok(Exclusion {
                    sku_id: parsed(r, "sku_id")?,
                    sku_code: text(r, "code")?,
                    created_at: int(r, "created_at")?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |e| {
            e.sku_id.to_string()
        }))
    }

    /// A channel's figures as last sent, by SKU id; `sku` narrows to one.
    pub async fn channel_figures(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        sku: Option<SkuId>,
        page: &PageRequest,
    ) -> StoreResult<Page<ChannelFigure>> {
        // One SKU is an equality the key's index finds, not a filter on a
        // read of every figure of the channel.
        let sku_cond = filter_eq("f.sku_id", "$4", sku.is_some());
        let sql = format!(
            "SELECT f.channel_id, f.sku_id, s.code, f.figure, f.reason, f.source, f.updated_at \
             FROM channel_figures f JOIN skus s ON s.id = f.sku_id \
             WHERE f.tenant_id = $1 AND f.channel_id = $2 AND f.sku_id > $3 AND {sku_cond} \
             ORDER BY f.sku_id LIMIT $5"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .bind(page.cursor())
            .bind(filter_value(sku))
            .bind((page.size() + 1) as i64)
            .fetch_all(self.reader())
            .await?;
        let items = rows
            .iter()
            .map(figure_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |f| {
            f.sku_id.to_string()
        }))
    }

    /// Sets a channel's figure for a SKU by hand. Refused with
    /// `channel_figure_locked` while sharing is on for the channel and
    /// jaego publishes the SKU's figure there; allowed when the channel is
    /// outside sharing, its basis is `untracked`, or the SKU is excluded
    /// from it (or not tracked). The next change that makes jaego publish
    /// the figure again replaces it.
    pub async fn set_manual_figure(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        sku: SkuId,
        figure: i64,
    ) -> StoreResult<ChannelFigure> {
        let now = now_us();
        let mut tx = self.begin_write().await?;
        lock_tenant(&mut tx, tenant).await?;
        let channels = figures::channels(&mut tx, tenant, Some(&[channel])).await?;
        let info = channels
            .first()
            .cloned()
            .ok_or_else(|| StoreError::not_found("channel", channel))?;
        let facts = figures::sku_facts(&mut tx, tenant, &[sku]).await?;
        let fact = facts
            .get(&sku)
            .ok_or_else(|| StoreError::not_found("sku", sku))?;
        let computed = figures::compute(&mut tx, tenant, &channels, &[(channel, sku)]).await?;
        if let Some(c) = computed.first()
            && channel_stock::manual_edit_locked(info.sharing, c.published)
        {
            return Err(StoreError::refused(
                "channel_figure_locked",
                format!(
                    "shared inventory is on for channel {:?} and publishes SKU {:?} there ({}); \
                     turn sharing off for the channel, exclude the SKU from it, or use the untracked \
                     basis to set its figure by hand",
                    info.code,
                    fact.code,
                    c.published.reason()
                ),
            ));
        }
        let before = figures::stored(&mut tx, tenant, &[(channel, sku)]).await?;
        let previous = before.get(&(channel, sku));
        let mut events = Vec::new();
        if previous.is_none_or(|p| p.figure != Some(figure)) {
            events.push(channel_stock_event(
                tenant,
                channel,
                &info.code,
                sku,
                &fact.code,
                Some(figure),
                previous.and_then(|p| p.figure),
                "manual",
                "manual",
                None,
            ));
        }
        let row = figures::Row {
            channel,
            sku,
            figure: Some(figure),
            reason: "manual",
            source: "manual",
        };
        figures::upsert(&mut tx, tenant, &row, now).await?;
        self.commit_with(tx, &events).await?;
        Ok(ChannelFigure {
            channel_id: channel,
            sku_id: sku,
            sku_code: fact.code.clone(),
            figure: Some(figure),
            reason: "manual".into(),
            source: "manual".into(),
            updated_at: now,
        })
    }
}
