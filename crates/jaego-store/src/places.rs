//! Locations (warehouses and stores), channels and their links, and the
//! merchant-defined movement types.

use jaego_core::catalog::{LocationKind, validate_channel, validate_location};
use jaego_core::error::Validator;
use jaego_core::limits::{CHANNEL_LOCATIONS_MAX, CODE_LEN_MAX, NAME_LEN_MAX};
use jaego_core::movement::Direction;
use jaego_core::{ChannelId, InvalidInput, LocationId, StockPolicy, TenantId};
use serde_json::json;
use sqlx::any::AnyRow;

use crate::error::{StoreError, StoreResult};
use crate::events::{NewEvent, kinds};
use crate::page::{Page, PageRequest};
use crate::rows::{int, opt_float, opt_parsed, parsed, text};
use crate::{Store, now_us};

#[derive(Debug, Clone)]
pub struct Location {
    pub id: LocationId,
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    pub time_zone: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub policy: StockPolicy,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewLocation {
    pub code: String,
    pub name: String,
    pub kind: LocationKind,
    pub time_zone: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub policy: StockPolicy,
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub id: ChannelId,
    pub code: String,
    pub name: String,
    pub kind: String,
    /// Overrides the linked locations' policy when set.
    pub policy: Option<StockPolicy>,
    /// Linked locations, highest priority first.
    pub locations: Vec<LocationId>,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewChannel {
    pub code: String,
    pub name: String,
    pub kind: String,
    pub policy: Option<StockPolicy>,
    pub locations: Vec<LocationId>,
}

#[derive(Debug, Clone)]
pub struct MovementType {
    pub code: String,
    pub name: String,
    pub direction: Direction,
    pub created_at: i64,
}

/// Filters of the location list.
#[derive(Debug, Clone, Default)]
pub struct LocationFilter {
    pub kind: Option<LocationKind>,
}

const LOCATION_COLUMNS: &str =
    "id, code, name, kind, time_zone, latitude, longitude, policy, created_at";

fn location_from_row(row: &AnyRow) -> StoreResult<Location> {
    let kind = text(row, "kind")?;
    Ok(Location {
        id: parsed(row, "id")?,
        code: text(row, "code")?,
        name: text(row, "name")?,
        kind: LocationKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("location kind {kind:?}")))?,
        time_zone: text(row, "time_zone")?,
        latitude: opt_float(row, "latitude")?,
        longitude: opt_float(row, "longitude")?,
        policy: parsed(row, "policy")?,
        created_at: int(row, "created_at")?,
    })
}

fn channel_from_row(row: &AnyRow) -> StoreResult<Channel> {
    Ok(Channel {
        id: parsed(row, "id")?,
        code: text(row, "code")?,
        name: text(row, "name")?,
        kind: text(row, "kind")?,
        policy: opt_parsed(row, "policy")?,
        locations: Vec::new(),
        created_at: int(row, "created_at")?,
    })
}

/// The event of a location created or changed.
fn location_event(tenant: TenantId, kind: &'static str, l: &Location) -> NewEvent {
    NewEvent::new(
        tenant,
        kind,
        json!({
            "id": l.id.to_string(),
            "code": l.code,
            "name": l.name,
            "kind": l.kind.as_str(),
            "time_zone": l.time_zone,
            "latitude": l.latitude,
            "longitude": l.longitude,
            "policy": l.policy.as_str(),
        }),
    )
    .location(l.id)
    .subject(l.id)
}

/// The event of a channel created or changed, with its linked locations
/// in priority order.
fn channel_event(tenant: TenantId, kind: &'static str, c: &Channel) -> NewEvent {
    NewEvent::new(
        tenant,
        kind,
        json!({
            "id": c.id.to_string(),
            "code": c.code,
            "name": c.name,
            "kind": c.kind,
            "policy": c.policy.map(StockPolicy::as_str),
            "locations": c.locations.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }),
    )
    .channel(c.id)
    .subject(c.id)
}

impl Store {
    pub async fn create_location(
        &self,
        tenant: TenantId,
        new: &NewLocation,
    ) -> StoreResult<Location> {
        validate_location(
            &new.code,
            &new.name,
            &new.time_zone,
            new.latitude,
            new.longitude,
        )?;
        let location = Location {
            id: LocationId::new(),
            code: new.code.clone(),
            name: new.name.clone(),
            kind: new.kind,
            time_zone: new.time_zone.clone(),
            latitude: new.latitude,
            longitude: new.longitude,
            policy: new.policy,
            created_at: now_us(),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO locations (id, tenant_id, code, name, kind, time_zone, latitude, longitude, policy, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(location.id.to_string())
        .bind(tenant.to_string())
        .bind(&location.code)
        .bind(&location.name)
        .bind(location.kind.as_str())
        .bind(&location.time_zone)
        .bind(location.latitude)
        .bind(location.longitude)
        .bind(location.policy.as_str())
        .bind(location.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| StoreError::from_unique(e, "location code", &new.code))?;
        self.commit_with(
            tx,
            &[location_event(tenant, kinds::LOCATION_CREATED, &location)],
        )
        .await?;
        Ok(location)
    }

    /// Finds a location by id or code.
    pub async fn find_location(&self, tenant: TenantId, id_or_code: &str) -> StoreResult<Location> {
        let sql = format!(
            "SELECT {LOCATION_COLUMNS} FROM locations WHERE tenant_id = $1 AND (id = $2 OR code = $2)"
        );
        let row = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(id_or_code)
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found("location", id_or_code))?;
        location_from_row(&row)
    }

    pub async fn list_locations(
        &self,
        tenant: TenantId,
        filter: &LocationFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Location>> {
        let sql = format!(
            "SELECT {LOCATION_COLUMNS} FROM locations WHERE tenant_id = $1 AND id > $2 AND ($3 = '' OR kind = $3) ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(tenant.to_string())
            .bind(page.cursor())
            .bind(filter.kind.map_or("", LocationKind::as_str))
            .bind((page.size() + 1) as i64)
            .fetch_all(self.reader())
            .await?;
        let items = rows
            .iter()
            .map(location_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.size(), |l| l.id.to_string()))
    }

    /// Sets a location's stock policy.
    pub async fn set_location_policy(
        &self,
        tenant: TenantId,
        id: LocationId,
        policy: StockPolicy,
    ) -> StoreResult<Location> {
        let mut location = self.find_location(tenant, &id.to_string()).await?;
        let mut tx = self.begin_write().await?;
        let done = sqlx::query("UPDATE locations SET policy = $1 WHERE tenant_id = $2 AND id = $3")
            .bind(policy.as_str())
            .bind(tenant.to_string())
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::not_found("location", id));
        }
        location.policy = policy;
        self.commit_with(
            tx,
            &[location_event(tenant, kinds::LOCATION_UPDATED, &location)],
        )
        .await?;
        Ok(location)
    }

    pub async fn create_channel(&self, tenant: TenantId, new: &NewChannel) -> StoreResult<Channel> {
        validate_channel(&new.code, &new.name, &new.kind)?;
        let channel = Channel {
            id: ChannelId::new(),
            code: new.code.clone(),
            name: new.name.clone(),
            kind: new.kind.clone(),
            policy: new.policy,
            locations: Vec::new(),
            created_at: now_us(),
        };
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO channels (id, tenant_id, code, name, kind, policy, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(channel.id.to_string())
            .bind(tenant.to_string())
            .bind(&channel.code)
            .bind(&channel.name)
            .bind(&channel.kind)
            .bind(channel.policy.map(|p| p.as_str().to_string()))
            .bind(channel.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_unique(e, "channel code", &new.code))?;
        replace_links(&mut tx, tenant, channel.id, &new.locations).await?;
        let channel = Channel {
            locations: new.locations.clone(),
            ..channel
        };
        self.commit_with(
            tx,
            &[channel_event(tenant, kinds::CHANNEL_CREATED, &channel)],
        )
        .await?;
        self.find_channel(tenant, &channel.id.to_string()).await
    }

    /// Finds a channel by id or code, with its linked locations.
    pub async fn find_channel(&self, tenant: TenantId, id_or_code: &str) -> StoreResult<Channel> {
        let row = sqlx::query("SELECT id, code, name, kind, policy, created_at FROM channels WHERE tenant_id = $1 AND (id = $2 OR code = $2)")
            .bind(tenant.to_string())
            .bind(id_or_code)
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found("channel", id_or_code))?;
        let mut channel = channel_from_row(&row)?;
        self.attach_links(tenant, std::slice::from_mut(&mut channel))
            .await?;
        Ok(channel)
    }

    pub async fn list_channels(
        &self,
        tenant: TenantId,
        page: &PageRequest,
    ) -> StoreResult<Page<Channel>> {
        let rows = sqlx::query("SELECT id, code, name, kind, policy, created_at FROM channels WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3")
            .bind(tenant.to_string())
            .bind(page.cursor())
            .bind((page.size() + 1) as i64)
            .fetch_all(self.reader())
            .await?;
        let mut items = rows
            .iter()
            .map(channel_from_row)
            .collect::<StoreResult<Vec<_>>>()?;
        self.attach_links(tenant, &mut items).await?;
        Ok(Page::from_rows(items, page.size(), |c| c.id.to_string()))
    }

    /// Replaces a channel's linked locations; the order given is the priority.
    pub async fn set_channel_locations(
        &self,
        tenant: TenantId,
        channel: ChannelId,
        locations: &[LocationId],
    ) -> StoreResult<Channel> {
        let mut tx = self.begin_write().await?;
        let found = sqlx::query("SELECT id, code, name, kind, policy, created_at FROM channels WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| StoreError::not_found("channel", channel))?;
        replace_links(&mut tx, tenant, channel, locations).await?;
        let found = channel_from_row(&found)?;
        let changed = Channel {
            locations: locations.to_vec(),
            ..found
        };
        self.commit_with(
            tx,
            &[channel_event(tenant, kinds::CHANNEL_UPDATED, &changed)],
        )
        .await?;
        self.find_channel(tenant, &channel.to_string()).await
    }

    /// Fills in the linked locations of `channels` (sorted by id, as pages
    /// and single lookups are) with one query over their id range.
    async fn attach_links(&self, tenant: TenantId, channels: &mut [Channel]) -> StoreResult<()> {
        let (Some(first), Some(last)) = (channels.first(), channels.last()) else {
            return Ok(());
        };
        let rows = sqlx::query(
            "SELECT channel_id, location_id FROM channel_locations \
             WHERE tenant_id = $1 AND channel_id >= $2 AND channel_id <= $3 ORDER BY priority",
        )
        .bind(tenant.to_string())
        .bind(first.id.to_string())
        .bind(last.id.to_string())
        .fetch_all(self.reader())
        .await?;
        for row in &rows {
            let channel: ChannelId = parsed(row, "channel_id")?;
            if let Some(c) = channels.iter_mut().find(|c| c.id == channel) {
                c.locations.push(parsed(row, "location_id")?);
            }
        }
        Ok(())
    }

    pub async fn create_movement_type(
        &self,
        tenant: TenantId,
        code: &str,
        name: &str,
        direction: Direction,
    ) -> StoreResult<MovementType> {
        let mut v = Validator::new();
        v.code("code", code, CODE_LEN_MAX);
        v.text("name", name, NAME_LEN_MAX);
        v.finish()?;
        let created_at = now_us();
        let mut tx = self.begin_write().await?;
        sqlx::query("INSERT INTO movement_types (tenant_id, code, name, direction, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(tenant.to_string())
            .bind(code)
            .bind(name)
            .bind(direction.as_str())
            .bind(created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::from_unique(e, "movement type", code))?;
        let event = NewEvent::new(
            tenant,
            kinds::MOVEMENT_TYPE_CREATED,
            json!({"code": code, "name": name, "direction": direction.as_str()}),
        )
        .subject(code);
        self.commit_with(tx, &[event]).await?;
        Ok(MovementType {
            code: code.to_string(),
            name: name.to_string(),
            direction,
            created_at,
        })
    }

    pub async fn find_movement_type(
        &self,
        tenant: TenantId,
        code: &str,
    ) -> StoreResult<MovementType> {
        let row = sqlx::query("SELECT code, name, direction, created_at FROM movement_types WHERE tenant_id = $1 AND code = $2")
            .bind(tenant.to_string())
            .bind(code)
            .fetch_optional(self.reader())
            .await?
            .ok_or_else(|| StoreError::not_found("movement type", code))?;
        movement_type_from_row(&row)
    }

    pub async fn list_movement_types(&self, tenant: TenantId) -> StoreResult<Vec<MovementType>> {
        let rows = sqlx::query("SELECT code, name, direction, created_at FROM movement_types WHERE tenant_id = $1 ORDER BY code")
            .bind(tenant.to_string())
            .fetch_all(self.reader())
            .await?;
        rows.iter().map(movement_type_from_row).collect()
    }
}

fn movement_type_from_row(row: &AnyRow) -> StoreResult<MovementType> {
    Ok(MovementType {
        code: text(row, "code")?,
        name: text(row, "name")?,
        direction: parsed(row, "direction")?,
        created_at: int(row, "created_at")?,
    })
}

async fn replace_links(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: TenantId,
    channel: ChannelId,
    locations: &[LocationId],
) -> StoreResult<()> {
    if locations.len() > CHANNEL_LOCATIONS_MAX {
        return Err(InvalidInput::one(
            "locations",
            format!(
                "has {} entries; the limit is {CHANNEL_LOCATIONS_MAX}",
                locations.len()
            ),
        )
        .into());
    }
    for (i, location) in locations.iter().enumerate() {
        if locations[..i].contains(location) {
            return Err(InvalidInput::one(format!("locations[{i}]"), "is listed twice").into());
        }
    }
    sqlx::query("DELETE FROM channel_locations WHERE tenant_id = $1 AND channel_id = $2")
        .bind(tenant.to_string())
        .bind(channel.to_string())
        .execute(&mut **tx)
        .await?;
    for (priority, location) in locations.iter().enumerate() {
        let found = sqlx::query("SELECT id FROM locations WHERE tenant_id = $1 AND id = $2")
            .bind(tenant.to_string())
            .bind(location.to_string())
            .fetch_optional(&mut **tx)
            .await?;
        if found.is_none() {
            return Err(StoreError::not_found("location", location));
        }
        sqlx::query("INSERT INTO channel_locations (tenant_id, channel_id, location_id, priority) VALUES ($1, $2, $3, $4)")
            .bind(tenant.to_string())
            .bind(channel.to_string())
            .bind(location.to_string())
            .bind(priority as i64)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}
